/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Map helpers shared by bpfscope's BPF programs. */
#ifndef __BPFSCOPE_MAPS_BPF_H
#define __BPFSCOPE_MAPS_BPF_H

#include <bpf/bpf_helpers.h>

/* lookup_or_try_init returns the value of key, inserting init first if the
 * key is absent. It returns NULL only when the map is full. */
static __always_inline void *lookup_or_try_init(void *map, const void *key, const void *init)
{
	void *val;
	long err;

	val = bpf_map_lookup_elem(map, key);
	if (val)
		return val;

	err = bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */)
		return 0;

	return bpf_map_lookup_elem(map, key);
}

#endif
