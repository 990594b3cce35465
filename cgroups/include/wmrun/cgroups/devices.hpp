// Device access rules that every container gets, as runc grants them: deny all, then mknod of
// any node, and rwm on the standard character devices (null, zero, full, tty, random, urandom,
// console, ptmx, pts, tun).
#pragma once

#include <vector>

#include "wmrun/cgroups/resources.hpp"

namespace wmrun::cgroups {

std::vector<DeviceRule> default_device_rules();

// True when `rules` holds only deny-all and entries of default_device_rules(): what a
// container gets when config.json asks for no devices of its own.
bool only_default_device_rules(const std::vector<DeviceRule>& rules);

}  // namespace wmrun::cgroups
