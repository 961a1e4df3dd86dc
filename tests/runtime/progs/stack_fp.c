/* CFLAGS: -fno-omit-frame-pointer
 * A deep call chain for stack tests, built with frame pointers (stack_nofp.c is the same
 * program without). Usage: stack_fp N  (runs main -> func_a -> func_b -> func_c -> func_d ->
 * leaf N times, each leaf spinning SPIN iterations, then sleeps 300 ms so the process is alive
 * while its first events are read). */
#include <stdlib.h>
#include <unistd.h>

volatile unsigned long sink;
static unsigned long spin = 1000;

__attribute__((noinline)) void leaf(int n) {
    for (unsigned long i = 0; i < spin; i++)
        sink += i ^ (unsigned long)n;
}

/* The `sink++` after each call keeps it a real call (no tail call), so every frame stays on
 * the stack. */
__attribute__((noinline)) void func_d(int n) { leaf(n); sink++; }
/* Inlined into func_c: func_d's return address is in inlined code. */
static inline __attribute__((always_inline)) void call_d(int n) {
    func_d(n);
    sink += 2;
}
__attribute__((noinline)) void func_c(int n) { call_d(n); sink++; }
__attribute__((noinline)) void func_b(int n) { func_c(n); sink++; }
__attribute__((noinline)) void func_a(int n) { func_b(n); sink++; }

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2)
        spin = strtoul(argv[2], 0, 10);
    for (int i = 0; i < n; i++)
        func_a(i);
    usleep(300000);
    return 0;
}
