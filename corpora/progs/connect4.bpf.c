/* cgroup/connect4: counts IPv4 connect() per destination port; always allows. */
#include "connect_common.h"

SEC("cgroup/connect4")
int count_connect4(struct bpf_sock_addr *ctx)
{
    count_port(ctx->user_port);
    return 1;
}
