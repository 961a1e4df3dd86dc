/* CFLAGS: -g0
 * A function without debug info, for uprobe `args` errors. Usage: uprobe_nodebug */
__attribute__((noinline)) int add(int a, int b) { return a + b; }

int main(void) { return add(1, 2) == 3 ? 0 : 1; }
