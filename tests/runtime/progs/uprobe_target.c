/* A target for uprobe tests: known functions, arguments and return values.
 * Usage: uprobe_target N   (calls add(i, 10) and greet(word) N times) */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int add(int a, int b) {
    __asm__ volatile("" ::: "memory");
    return a + b;
}

__attribute__((noinline)) long greet(const char *who, int times) {
    __asm__ volatile("" ::: "memory");
    return times * 2 + (who[0] == 'w');
}

/* Eight arguments: the last two are passed on the stack (sarg0, sarg1). */
__attribute__((noinline)) long many(long a, long b, long c, long d, long e, long f, long g, long h) {
    __asm__ volatile("" ::: "memory");
    return a + b + c + d + e + f + g + h;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    char word[16] = "world";
    char var[16] = "FERRET_T";
    if (getenv(var))
        n++;
    long t = 0;
    for (int i = 0; i < n; i++) {
        t += add(i, 10);
        t += greet(word, i);
    }
    t += many(1, 2, 3, 4, 5, 6, 70, 80);
    printf("%ld\n", t);
    return 0;
}
