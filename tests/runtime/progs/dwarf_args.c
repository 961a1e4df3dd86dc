/* CFLAGS: -g -O0
 * Functions with named parameters of several C types, built with debug info for uprobe
 * `args.NAME` tests (types and register order from DWARF). Usage: dwarf_args */
#include <stdio.h>

struct Point {
    int x;
    long y;
    const char *label;
    char tag[8];
    struct Point *next;
};

typedef unsigned short u16_t;

volatile long sink;

__attribute__((noinline)) void scalars(int n, const char *name, unsigned char c, long big, u16_t small,
                                       short neg) {
    sink += n + name[0] + c + big + small + neg;
}

__attribute__((noinline)) void with_struct(int *count, struct Point *p, void *opaque) {
    sink += *count + p->x + (opaque != 0);
}

__attribute__((noinline)) void with_double(int a, double d, int b) { sink += a + (long)d + b; }

int main(void) {
    int count = 13;
    char first_label[] = "first", second_label[] = "second";
    struct Point second = {7, 8, second_label, "t2", 0};
    struct Point first = {-5, 1234567890123L, first_label, "t1", &second};
    char name[] = "hello"; /* on the stack: a string in a not yet touched page can't be read */
    scalars(42, name, 'x', -9000000000L, 65535, -3);
    with_struct(&count, &first, &count);
    with_double(1, 2.5, 3);
    return 0;
}
