add_library(ebsnap_options INTERFACE)
# Language support shared by ec2/, platform/ and agent/ (ebsnap/try.h); no domain code.
target_include_directories(ebsnap_options INTERFACE ${PROJECT_SOURCE_DIR}/cmake/include)
target_compile_options(ebsnap_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough
  -Wformat=2 -Wmissing-declarations
  # Designated initializers that leave members at their defaults are the point of option structs.
  -Wno-missing-field-initializers)
if(EBSNAP_WERROR)
  target_compile_options(ebsnap_options INTERFACE -Werror)
endif()
if(EBSNAP_SANITIZE)
  # float-cast-overflow: GCC leaves it out of -fsanitize=undefined (clang has it in): a double out
  # of range cast to an integer (a duration or size from outside input) is UB all the same.
  target_compile_options(ebsnap_options INTERFACE
    -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow
    -fno-omit-frame-pointer)
  target_link_options(ebsnap_options INTERFACE -fsanitize=address,undefined,float-cast-overflow)
endif()
if(EBSNAP_TSAN)
  # Every target of ours, tests included, is instrumented; libcurl, OpenSSL and GoogleTest are
  # not (Debian's builds), so races inside them are invisible and their synchronisation is only
  # seen through the pthread calls TSan intercepts (tests/tsan.supp covers what that misses).
  target_compile_options(ebsnap_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(ebsnap_options INTERFACE -fsanitize=thread)
endif()
