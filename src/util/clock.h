/*
 * clock.h - the monotonic clock, for the edges only.
 *
 * The Raft core never reads a clock: the node loop turns elapsed time into
 * ticks. Tests and benchmarks use these to measure durations.
 */
#ifndef CAIRN_UTIL_CLOCK_H
#define CAIRN_UTIL_CLOCK_H

#include <stdint.h>

uint64_t cairn_clock_now_ns(void);
uint64_t cairn_clock_now_ms(void);

#endif
