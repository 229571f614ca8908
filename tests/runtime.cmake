# runtime and sandbox tests.  test_runtime includes runtime/detect.c (to
# reach the host-kind parameter), so it compiles the other runtime files
# itself instead of linking moat_runtime; test_sandbox does the same with
# sandbox.c.
moat_test(test_runtime SOURCES unit/test_runtime.c
	${PROJECT_SOURCE_DIR}/runtime/spec.c
	${PROJECT_SOURCE_DIR}/runtime/container.c
	${PROJECT_SOURCE_DIR}/runtime/firewall.c
	${PROJECT_SOURCE_DIR}/runtime/engine_api.c
	${PROJECT_SOURCE_DIR}/runtime/engine_run.c
	LIBS moat_util LABELS docker)
target_include_directories(test_runtime PRIVATE ${PROJECT_SOURCE_DIR}/runtime)
# It removes orphans of killed runs: not while the e2e tests make some.
set_tests_properties(test_runtime PROPERTIES RESOURCE_LOCK docker)
# The Podman live tests: skipped (77) where podman is not installed.
add_test(NAME test_runtime_podman COMMAND test_runtime podman)
set_tests_properties(test_runtime_podman PROPERTIES SKIP_RETURN_CODE 77
	TIMEOUT 300 RESOURCE_LOCK docker ENVIRONMENT "MOAT_SRC=${PROJECT_SOURCE_DIR}")

moat_test(test_sandbox SOURCES unit/test_sandbox.c
	LIBS moat_runtime moat_config moat_util LABELS docker)

# moat status, without the rest of the binary: cmd_status.c with the run
# records it reads.
moat_test(test_status SOURCES unit/test_status.c
	${PROJECT_SOURCE_DIR}/cmd/cmd_status.c
	${PROJECT_SOURCE_DIR}/cmd/run_record.c
	LIBS moat_sandbox moat_runtime moat_config moat_util LABELS docker)
target_include_directories(test_status PRIVATE ${PROJECT_SOURCE_DIR}/cmd)
