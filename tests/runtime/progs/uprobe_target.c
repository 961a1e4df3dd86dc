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
    printf("%ld\n", t);
    return 0;
}
