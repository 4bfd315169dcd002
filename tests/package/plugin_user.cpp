// Loads the plugin (linked at build time) and prints what it computed through procslink: "19".
#include <cstdio>

extern "C" int plugin_subtract(int a, int b);

int main() { std::printf("%d\n", plugin_subtract(42, 23)); }
