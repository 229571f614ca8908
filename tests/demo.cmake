# The README's quick start (scripts/demo), run as written: a stand-in
# api.github.com on 127.0.0.1:443, a granted token, moat run under gVisor.
# Skipped (77) only when the Docker daemon is unreachable.
add_test(NAME demo_quickstart COMMAND sh -c
	"docker info >/dev/null 2>&1 || exit 77; exec \"$0\"/scripts/demo"
	${PROJECT_SOURCE_DIR})
set_tests_properties(demo_quickstart PROPERTIES TIMEOUT 300
	SKIP_RETURN_CODE 77 RESOURCE_LOCK docker LABELS e2e
	ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>")
