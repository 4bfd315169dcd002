// nlmon.hpp - live capture of netlink traffic from an nlmon device (the kernel's netlink
// monitor, `ip link add nlmon0 type nlmon`, CAP_NET_ADMIN): a packet socket bound to the
// device, each packet one netlink message with its family.
#pragma once

#include <string>

#include "pcap.hpp"

namespace procslink::monitor {

class NlmonCapture {
 public:
  // Opens the capture on `interface`. When it does not exist and `create` is set, creates it
  // (and removes it again in the destructor). Throws TransportError with one line saying what
  // is missing: the device, CAP_NET_ADMIN, or nlmon in this kernel.
  NlmonCapture(const std::string& interface, bool create);
  ~NlmonCapture();
  NlmonCapture(const NlmonCapture&) = delete;
  NlmonCapture& operator=(const NlmonCapture&) = delete;

  // The next message, or nullopt when none came within `timeout_ms`.
  std::optional<CapturedMessage> next(int timeout_ms);

 private:
  void release() noexcept;  // closes the socket, removes a device it created
  std::string interface_;
  bool created_ = false;
  int fd_ = -1;
};

}  // namespace procslink::monitor
