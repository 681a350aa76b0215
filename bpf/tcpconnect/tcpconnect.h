/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by the tcpconnect backends and their Go reader. */
#ifndef __TCPCONNECT_H
#define __TCPCONNECT_H

#define TASK_COMM_LEN 16
#define MAX_PORTS 64

struct event {
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u16 af;
	__u16 lport;
	__u16 dport;
	__u16 __pad;
};

struct count_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 af;
	__u16 dport;
	__u32 __pad;
};

#endif
