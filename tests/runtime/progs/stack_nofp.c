/* CFLAGS: -fomit-frame-pointer
 * stack_fp.c without frame pointers: user stacks need DWARF (.eh_frame) unwinding. */
#include "stack_fp.c"
