/* Functions with C++ and Rust (legacy) mangled names, for demangling tests, and a function
 * taking a function pointer (for usym). Usage: mangled */
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) void rust_fn(void) __asm__("_ZN4core3fmt5write17h0123456789abcdefE");
__attribute__((noinline)) void rust_fn(void) { sink++; }

__attribute__((noinline)) void cpp_fn(int n) __asm__("_ZN3foo3barEi");
__attribute__((noinline)) void cpp_fn(int n) {
    rust_fn();
    sink += n;
}

__attribute__((noinline)) void call_with(void (*f)(int)) {
    f(1);
    sink++;
}

int main(void) {
    call_with(cpp_fn);
    usleep(300000);
    return 0;
}
