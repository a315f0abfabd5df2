#pragma once
// EC2 device names: /dev/sdX as given to AttachVolume, /dev/xvdX as Xen kernels name it.
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "platform/error.h"

namespace platform {

// "/dev/sdf" -> "/dev/xvdf", "/dev/xvdf" -> "/dev/sdf", "sdf1" -> "xvdf1"; nullopt for other names.
[[nodiscard]] std::optional<std::string> xen_twin(std::string_view name);

// The canonical "/dev/sdX" form of a name given as sdX, xvdX, /dev/sdX or /dev/xvdX.
[[nodiscard]] Result<std::string> canonical_device_name(std::string_view name);

// The name to attach with: `preferred` when neither it nor its twin is in use, otherwise the next
// free one of /dev/sdf../dev/sdz after it (wrapping around to sdf). `in_use` holds names in any of
// the accepted forms. Refused when `preferred` is not an sd/xvd name; NotFound when all are taken.
[[nodiscard]] Result<std::string> next_free_device_name(std::string_view preferred,
                                                        const std::set<std::string>& in_use);

}  // namespace platform
