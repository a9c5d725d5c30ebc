/*
 * crash_common.h - the plumbing the SIGKILL crash tests share. A forked
 * child writes to a store and announces every step on a pipe in messages
 * of one fixed size (at most CRASH_MSG_BYTES_MAX, so each write is atomic);
 * the parent kills it at a random moment, collects every whole message it
 * wrote and then checks the disk against them. The message layout is the
 * test's own: these helpers only move bytes.
 */
#ifndef CAIRN_TEST_STORAGE_CRASH_COMMON_H
#define CAIRN_TEST_STORAGE_CRASH_COMMON_H

#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/worker.h"

/* PIPE_BUF is at least 512: a write of this size or less is atomic. */
#define CRASH_MSG_BYTES_MAX 512

/* The number of kills: CAIRN_CRASH_ITERATIONS, or default_iterations. */
int crash_iterations(int default_iterations);

/* The schedule's seed: CAIRN_CRASH_SEED, or the current time. */
uint64_t crash_seed(void);

/* In the child: write the msg_bytes of msg to fd whole, or _exit(4). */
void crash_send(int fd, const void *msg, size_t msg_bytes);

/* A worker's notify_cb for notify_arg = a sem_t: posts it. */
void crash_notify(void *sem);

/* In the child: until *done reaches submitted, wait on sem (posted by the
 * worker's notify_cb) and drain w's completions into done_cb(arg), which
 * counts them in *done. */
void crash_wait_jobs(sem_t *sem, struct cairn_kv_worker *w, const size_t *done, size_t submitted,
		     cairn_kv_done_cb done_cb, void *arg);

/* Fork a child that runs child_main(fd, arg) (which must never return)
 * with the write end of a pipe, let it run for delay_ms, SIGKILL it and
 * reap it. Every whole message it wrote goes to msgs (room for msgs_max
 * messages of msg_bytes each), oldest first; returns their count. Asserts
 * that the child died by the kill, that no message was torn and that
 * msgs_max sufficed, printing seed on failure. */
size_t crash_run_child(void (*child_main)(int fd, void *arg), void *arg, uint64_t delay_ms,
		       void *msgs, size_t msg_bytes, size_t msgs_max, uint64_t seed);

#endif
