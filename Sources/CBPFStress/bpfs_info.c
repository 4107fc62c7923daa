/* Typed views of BPF_OBJ_GET_INFO_BY_FD for programs, maps and links (see include/bpfs_bpf.h). */
#include "bpfs_bpf.h"

#include <string.h>

#include <linux/bpf.h>

int bpfs_prog_info(const struct bpfs_rt *rt, int prog_fd, struct bpfs_prog_info *out) {
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    int r = bpfs_obj_get_info_by_fd(rt, prog_fd, &info, &len);
    if (r < 0) return r;
    memset(out, 0, sizeof(*out));
    out->type = info.type;
    out->id = info.id;
    memcpy(out->name, info.name, sizeof(out->name) - 1);
    out->run_time_ns = info.run_time_ns;
    out->run_cnt = info.run_cnt;
    out->xlated_prog_len = info.xlated_prog_len;
    out->jited_prog_len = info.jited_prog_len;
    out->nr_map_ids = info.nr_map_ids;
    out->verified_insns = info.verified_insns;
    return 0;
}

int bpfs_map_info(const struct bpfs_rt *rt, int map_fd, struct bpfs_map_info *out) {
    struct bpf_map_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    int r = bpfs_obj_get_info_by_fd(rt, map_fd, &info, &len);
    if (r < 0) return r;
    memset(out, 0, sizeof(*out));
    out->type = info.type;
    out->id = info.id;
    out->key_size = info.key_size;
    out->value_size = info.value_size;
    out->max_entries = info.max_entries;
    out->map_flags = info.map_flags;
    memcpy(out->name, info.name, sizeof(out->name) - 1);
    return 0;
}

int bpfs_link_info(const struct bpfs_rt *rt, int link_fd, struct bpfs_link_info *out) {
    struct bpf_link_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    int r = bpfs_obj_get_info_by_fd(rt, link_fd, &info, &len);
    if (r < 0) return r;
    memset(out, 0, sizeof(*out));
    out->type = info.type;
    out->id = info.id;
    out->prog_id = info.prog_id;
    if (info.type == BPF_LINK_TYPE_CGROUP) {
        out->cgroup_id = info.cgroup.cgroup_id;
        out->attach_type = info.cgroup.attach_type;
    }
    return 0;
}
