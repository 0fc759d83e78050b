/* Copying structs the caller fills by the caller's declared version
 * (doc/abi.md): a caller built against an older header has a shorter
 * struct, so reading `sizeof` of this library's layout would read past its
 * end. Each versioned struct lists the size it had at each version. Private. */
#ifndef WB_VERSIONED_H
#define WB_VERSIONED_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Copy the members that version `version` of the struct has (sizes[v - 1]
 * bytes; a version newer than this library knows copies everything this
 * library knows), zero the rest of dst, and stamp dst with the newest
 * version this library knows (its layout is now this library's). Returns
 * 0, or -1 for version 0. */
static inline int wb_copy_versioned(void *dst, size_t dst_size,
                                    const void *src, uint32_t version,
                                    const size_t *sizes, size_t n_versions)
{
    if (version == 0)
        return -1;
    size_t n = version > n_versions ? sizes[n_versions - 1]
                                    : sizes[version - 1];
    if (n > dst_size)
        n = dst_size;
    memset(dst, 0, dst_size);
    memcpy(dst, src, n);
    uint32_t newest = (uint32_t)n_versions;
    memcpy(dst, &newest, sizeof newest); /* version is the first member */
    return 0;
}

/* The size of a struct up to and including `member`: the size of an older
 * version whose last member that was. */
#define WB_SIZE_THROUGH(type, member)                                        \
    (offsetof(type, member) + sizeof(((type *)0)->member))

#define WB_N_VERSIONS(sizes) (sizeof(sizes) / sizeof((sizes)[0]))

#endif
