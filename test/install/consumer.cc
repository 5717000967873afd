// An outside program built only with `pkg-config --cflags --libs shardtcp` against the
// installed headers and library: proves the install layout and the .pc file.
#include <shardtcp/stack.h>

#include <cstdio>

int main() {
  auto a = shardtcp::IpAddr::parse("198.18.0.1");
  auto opts = shardtcp::parse_interface_address("198.18.0.2/24");
  if (!a || !opts || opts->prefix_len != 24) return 1;
  std::printf("consumer ok: %s\n", a->to_string().c_str());
  return 0;
}
