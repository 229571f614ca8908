# Soak and fault tests (issue 8).  The full soak (10 min, 1,000 tunnels)
# is run by hand: tests/soak/soak.py (see tests/soak/RESULTS.md); ctest
# runs its smoke mode (about 40 s: 50 tunnels, every fault, including a
# container holding tunnels killed under runc and runsc; SKIP when Docker
# is not reachable).
find_program(PYTHON3 python3)
if(PYTHON3)
	add_test(NAME soak_smoke COMMAND ${PYTHON3}
		${CMAKE_CURRENT_SOURCE_DIR}/soak/soak.py --smoke)
	set_tests_properties(soak_smoke PROPERTIES TIMEOUT 300 LABELS soak
		SKIP_RETURN_CODE 77
		ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>;MOAT_LOADGEN=$<TARGET_FILE:moat_loadgen>;MOAT_BENCH_ORIGIN=$<TARGET_FILE:moat_bench_origin>;MOAT_SRC=${PROJECT_SOURCE_DIR}")
endif()
