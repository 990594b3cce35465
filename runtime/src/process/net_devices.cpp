#include "process/net_devices.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "wmrun/base/unique_fd.hpp"

namespace wmrun::runtime {

namespace {

void add_attr(std::string& msg, unsigned short type, const void* data, std::size_t len) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<unsigned short>(RTA_LENGTH(len));
    msg.append(reinterpret_cast<const char*>(&a), sizeof a);
    msg.append(static_cast<const char*>(data), len);
    msg.append(RTA_ALIGN(a.rta_len) - a.rta_len, '\0');
}

// One RTM_NEWLINK on the host's device: IFLA_NET_NS_FD moves it, IFLA_IFNAME in the same
// message names it in the target namespace (the kernel renames on the move).
Result<> move_one(int nl, int netns, const NetDevice& d) {
    unsigned index = ::if_nametoindex(d.host_name.c_str());
    if (index == 0) return sys_error("netDevices", d.host_name);
    std::string msg(NLMSG_LENGTH(sizeof(ifinfomsg)), '\0');
    auto* h = reinterpret_cast<nlmsghdr*>(msg.data());
    h->nlmsg_type = RTM_NEWLINK;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = static_cast<int>(index);
    std::uint32_t fd = static_cast<std::uint32_t>(netns);
    add_attr(msg, IFLA_NET_NS_FD, &fd, sizeof fd);
    add_attr(msg, IFLA_IFNAME, d.name.c_str(), d.name.size() + 1);
    reinterpret_cast<nlmsghdr*>(msg.data())->nlmsg_len = static_cast<std::uint32_t>(msg.size());
    if (::send(nl, msg.data(), msg.size(), 0) < 0) return sys_error("netlink send", d.host_name);
    alignas(nlmsghdr) char buf[4096];
    ssize_t n = ::recv(nl, buf, sizeof buf, 0);
    if (n < 0) return sys_error("netlink recv", d.host_name);
    auto* reply = reinterpret_cast<nlmsghdr*>(buf);
    if (!NLMSG_OK(reply, static_cast<unsigned>(n)) || reply->nlmsg_type != NLMSG_ERROR)
        return fail("netDevices", d.host_name, "unexpected netlink reply", EPROTO);
    int err = -static_cast<nlmsgerr*>(NLMSG_DATA(reply))->error;
    if (err != 0) return sys_error("move network device", d.host_name + " -> " + d.name, err);
    return {};
}

}  // namespace

Result<> move_net_devices(pid_t pid, const std::vector<NetDevice>& devices) {
    if (devices.empty()) return {};
    std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
    UniqueFd netns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!netns) return sys_error("open", ns_path);
    UniqueFd nl(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    if (!nl) return sys_error("socket", "NETLINK_ROUTE");
    for (const auto& d : devices)
        WM_CHECK(move_one(nl.get(), netns.get(), d));
    return {};
}

}  // namespace wmrun::runtime
