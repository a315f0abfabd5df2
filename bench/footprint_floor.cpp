// The floor of ebsnap's start-up and memory: nothing but the shared libraries ebsnap links
// (libcurl and what it brings, OpenSSL, libmount, libblkid, libudev, spdlog, fmt, pugixml,
// libstdc++), each loaded (--no-as-needed) and relocated, then exit. footprint_bench runs it
// beside `ebsnap --version`: what ebsnap costs above this line is its own.
int main() { return 0; }
