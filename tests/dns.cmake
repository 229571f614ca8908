# The real DNS path of `moat proxy` (no --resolve): the test re-executes
# itself in private network and mount namespaces with its own DNS
# responder and a veth-joined origin namespace.  Root only; exit 77 when
# namespaces cannot be created.
find_program(PYTHON3 python3)
if(PYTHON3)
	add_test(NAME test_dns_integ COMMAND ${PYTHON3}
		${CMAKE_CURRENT_SOURCE_DIR}/integ/test_dns.py -v)
	set_tests_properties(test_dns_integ PROPERTIES TIMEOUT 300
		SKIP_RETURN_CODE 77
		ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>")
endif()
