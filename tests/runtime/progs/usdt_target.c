/* A target for USDT tests: probes written out the way <sys/sdt.h> does it (that header is not
 * installed everywhere), one with a semaphore.
 * Usage: usdt_target N   (fires ferret:tick N times with (i, i * 10), and ferret:gated) */
#include <stdio.h>
#include <stdlib.h>

#define NOTE_HEAD(provider, name, sem)                                                      \
    "990: nop\n"                                                                            \
    ".pushsection .note.stapsdt,\"?\",\"note\"\n"                                           \
    ".balign 4\n"                                                                           \
    ".4byte 992f-991f, 994f-993f, 3\n"                                                      \
    "991: .asciz \"stapsdt\"\n"                                                             \
    "992: .balign 4\n"                                                                      \
    "993: .8byte 990b\n"                                                                    \
    ".8byte _.stapsdt.base\n"                                                               \
    ".8byte " sem "\n"                                                                      \
    ".asciz \"" provider "\"\n"                                                             \
    ".asciz \"" name "\"\n"

#define NOTE_TAIL                                                                           \
    "994: .balign 4\n"                                                                      \
    ".popsection\n"                                                                         \
    ".ifndef _.stapsdt.base\n"                                                              \
    ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n"                 \
    ".weak _.stapsdt.base\n"                                                                \
    ".hidden _.stapsdt.base\n"                                                              \
    "_.stapsdt.base: .space 1\n"                                                            \
    ".size _.stapsdt.base, 1\n"                                                             \
    ".popsection\n"                                                                         \
    ".endif\n"

/* A u16 counter the kernel raises while a probe with this semaphore is attached. */
__attribute__((section(".probes"))) volatile unsigned short ferret_gated_semaphore;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    for (long i = 0; i < n; i++) {
        long ten = i * 10;
        __asm__ __volatile__(NOTE_HEAD("ferret", "tick", "0") ".asciz \"-8@%0 -8@%1\"\n" NOTE_TAIL
                             :: "r"(i), "r"(ten));
        if (ferret_gated_semaphore)
            __asm__ __volatile__(NOTE_HEAD("ferret", "gated", "ferret_gated_semaphore") ".asciz \"4@$7\"\n" NOTE_TAIL);
        /* Constants are stored as the argument's type holds them: u8 -16 is 240. */
        __asm__ __volatile__(NOTE_HEAD("ferret2", "consts", "0") ".asciz \"1@$-16 -1@$-16 4@$-202182160\"\n" NOTE_TAIL);
    }
    printf("%d\n", (int)ferret_gated_semaphore);
    return 0;
}
