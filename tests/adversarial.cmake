# The adversarial suite (issue 8): tests/adversarial/adversarial.py drives
# the real `moat proxy` with raw sockets, ssl and curl against real TLS
# origins on 127.0.0.1; it prints `N passed, N failed` and fails on any
# failure.  In the sanitized build the proxy is the sanitized moat, and a
# sanitizer report on its stderr fails the suite.
find_program(PYTHON3 python3)
if(PYTHON3)
	add_test(NAME adversarial COMMAND ${PYTHON3}
		${CMAKE_CURRENT_SOURCE_DIR}/adversarial/adversarial.py)
	set_tests_properties(adversarial PROPERTIES TIMEOUT 900
		LABELS adversarial
		ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>;MOAT_SRC=${PROJECT_SOURCE_DIR}")
endif()
