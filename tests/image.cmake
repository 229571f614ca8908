# The local agent image that scripts/setup builds and agent.yaml's `image:`
# defaults to (CONFIG_DEFAULT_IMAGE in config/config.h) has sh, coreutils,
# curl, git and CA certificates, works for an arbitrary uid and starts under
# gVisor.  Skipped (77) only when Docker is unreachable.
file(STRINGS ${PROJECT_SOURCE_DIR}/config/config.h moat_default_image_line
	REGEX "^#define[ \t]+CONFIG_DEFAULT_IMAGE[ \t]")
string(REGEX REPLACE ".*\"([^\"]+)\".*" "\\1" moat_default_image
	"${moat_default_image_line}")
if(NOT moat_default_image)
	message(FATAL_ERROR "tests/image.cmake: CONFIG_DEFAULT_IMAGE not found "
		"in config/config.h")
endif()
add_test(NAME image_agent COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-image
	${moat_default_image})
set_tests_properties(image_agent PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
	LABELS "image")
