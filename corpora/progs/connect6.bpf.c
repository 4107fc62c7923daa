/* cgroup/connect6: counts IPv6 connect() per destination port; always allows. */
#include "connect_common.h"

SEC("cgroup/connect6")
int count_connect6(struct bpf_sock_addr *ctx)
{
    count_port(ctx->user_port);
    return 1;
}
