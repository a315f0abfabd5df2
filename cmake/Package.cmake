# What `cmake --install` puts where, and the Debian package made of exactly that (CPack's DEB
# generator; scripts/package builds it). With CMAKE_INSTALL_PREFIX=/usr (the package's) the
# configuration goes to /etc and the units to /lib/systemd/system, as Debian 12's own packages
# have them; under another prefix everything stays below it.
include(GNUInstallDirs)
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(ebsnap_unit_dir_default /lib/systemd/system)
else()
  set(ebsnap_unit_dir_default lib/systemd/system)
endif()
set(EBSNAP_SYSTEMD_UNIT_DIR ${ebsnap_unit_dir_default} CACHE STRING "Where the systemd units and timers are installed")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(ebsnap_etc /etc)
else()
  set(ebsnap_etc ${CMAKE_INSTALL_SYSCONFDIR})  # relative: follows `cmake --install --prefix`
endif()

# The Debian changelog is the package's; its newest entry must name the project's version.
file(STRINGS ${PROJECT_SOURCE_DIR}/pkg/deb/changelog ebsnap_changelog_top LIMIT_COUNT 1)
if(NOT ebsnap_changelog_top MATCHES "^ebsnap \\(${PROJECT_VERSION}\\) ")
  message(FATAL_ERROR "pkg/deb/changelog's newest entry (${ebsnap_changelog_top}) is not version ${PROJECT_VERSION} "
                      "(project() in CMakeLists.txt): add an entry")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/pkg/deb/changelog)
# Compressed as Debian policy wants documentation (gzip -9n: no name or time stamp, reproducible).
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/pkg/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/pkg
  COMMAND sh -c "gzip -9n < ${PROJECT_SOURCE_DIR}/pkg/deb/changelog > ${PROJECT_BINARY_DIR}/pkg/changelog.gz"
  DEPENDS ${PROJECT_SOURCE_DIR}/pkg/deb/changelog
  VERBATIM)
add_custom_target(ebsnap_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/pkg/changelog.gz)

install(TARGETS ebsnap RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${PROJECT_BINARY_DIR}/agent/ebsnap.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES etc/bash-completion/ebsnap DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES etc/iam-policy.json DESTINATION ${CMAKE_INSTALL_DATADIR}/ebsnap)
install(FILES etc/prometheus/ebsnap-alerts.yml DESTINATION ${CMAKE_INSTALL_DATADIR}/ebsnap)
install(FILES etc/ssm/ebsnap-dlm-scripts.yaml etc/ssm/ebsnap-snapshot.yaml DESTINATION ${CMAKE_INSTALL_DATADIR}/ebsnap/ssm)
# The example configuration, mode 0600: a config file may carry credentials (in hooks' argv), and
# ebsnap refuses one that group or others can read when it does.
install(FILES etc/ebsnap.json DESTINATION ${ebsnap_etc}/ebsnap PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES etc/default-ebsnap DESTINATION ${ebsnap_etc}/default RENAME ebsnap)
install(PROGRAMS init/ebsnap.init DESTINATION ${ebsnap_etc}/init.d RENAME ebsnap)
install(FILES
  init/ebsnap-mount@.service init/ebsnap-prewarm@.service init/ebsnap-snapshot@.service
  init/ebsnap-snapshot@.timer init/ebsnap-copy@.service init/ebsnap-copy@.timer
  init/ebsnap-watch.service
  DESTINATION ${EBSNAP_SYSTEMD_UNIT_DIR})
install(FILES README.md pkg/deb/copyright ${PROJECT_BINARY_DIR}/pkg/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES pkg/deb/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME ebsnap)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ebsnap)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ebsnap maintainers <maintainers@users.noreply.b-seed-39de5932.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "restores, snapshots and prunes the EBS volumes of an EC2 instance")
# The extended description (CPack puts the summary before it as the synopsis, and indents it).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "An on-instance agent for EBS volumes on EC2. At boot it restores every
configured mount point from its latest tagged snapshot (or creates and formats
a new volume); on a timer or on demand it takes consistent snapshots, freezing
each filesystem for the shortest possible time, with a thaw guardian that thaws
even if the agent is killed. It also prunes by a retention policy, alarms on
stale backups, and checks its own IAM permissions.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Libraries: computed by dpkg-shlibdeps from the binary. Programs ebsnap runs: mkfs.ext4
# (e2fsprogs: Priority required, but not Essential, so it is a dependency); udevd, without which
# no attached volume's device appears; mkfs.xfs only for xfs volumes (`ebsnap check` says when it
# is missing); node_exporter reads the metrics files.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "e2fsprogs, udev")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "xfsprogs")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus-node-exporter")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/pkg/deb/conffiles ${PROJECT_SOURCE_DIR}/pkg/deb/postinst ${PROJECT_SOURCE_DIR}/pkg/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# /etc and /lib are outside the prefix: install into a staging root (DESTDIR) as it is.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
include(CPack)
