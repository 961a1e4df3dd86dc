/* CFLAGS: -fno-omit-frame-pointer
   A leaking program for memleak: ten 100-byte allocations from leak_some() never freed, ten
   freed at once; then it lives one more second, so the leaks are old enough to show. */
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) void *leak_some(size_t n) {
    char *p = malloc(n);
    /* Not a tail call: leak_some stays on the stack. */
    if (p)
        *p = 1;
    return p;
}

int main(void) {
    static void *keep[10];
    for (int i = 0; i < 10; i++) {
        keep[i] = leak_some(100);
        free(malloc(200));
    }
    sleep(1);
    return keep[0] == NULL;
}
