# proxy tests
moat_test(test_proxy_http SOURCES unit/test_proxy_http.c LIBS moat_proxy)
target_include_directories(test_proxy_http PRIVATE
	${PROJECT_SOURCE_DIR}/proxy)

# Integration: the real `moat proxy` with curl, raw sockets and the
# recording origin (tests/integ/origin.py) on 127.0.0.1.
find_program(PYTHON3 python3)
if(PYTHON3)
	add_test(NAME test_proxy_integ COMMAND ${PYTHON3}
		${CMAKE_CURRENT_SOURCE_DIR}/integ/test_proxy.py -v)
	set_tests_properties(test_proxy_integ PROPERTIES TIMEOUT 600
		ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>")
endif()
