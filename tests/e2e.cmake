# cmd/: run records (unit) and `moat run` end to end.

# Run records (cmd/) and the JSON reader (util/); test them directly.
moat_test(test_run_record SOURCES unit/test_run_record.c
	${PROJECT_SOURCE_DIR}/cmd/run_record.c
	LIBS moat_util)
target_include_directories(test_run_record PRIVATE
	${PROJECT_SOURCE_DIR}/cmd)

# moat run end to end against the real Docker engine (exit 77: no daemon).
find_package(Python3 COMPONENTS Interpreter)
if(Python3_FOUND)
	foreach(sc inject exit token strict isolation signals sigkill stalled tty
			errors desktop)
		foreach(rt runc runsc)
			# These two do not depend on the container runtime.
			if((sc STREQUAL "errors" OR sc STREQUAL "desktop") AND
			    rt STREQUAL "runsc")
				continue()
			endif()
			set(t e2e_run_${sc}_${rt})
			add_test(NAME ${t} COMMAND ${Python3_EXECUTABLE}
				${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.py ${sc} ${rt})
			set_tests_properties(${t} PROPERTIES TIMEOUT 600
				SKIP_RETURN_CODE 77 RESOURCE_LOCK docker
				LABELS e2e
				ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>;MOAT_SRC=${PROJECT_SOURCE_DIR}")
		endforeach()
	endforeach()
	# list/logs/trace/clean over hand-written records, and moat run on
	# Apple's runtime through the fake `container`: no engine needed.
	foreach(sc runs_cli apple)
		add_test(NAME e2e_${sc} COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.py ${sc})
		set_tests_properties(e2e_${sc} PROPERTIES TIMEOUT 120
			ENVIRONMENT "MOAT_BIN=$<TARGET_FILE:moat>;MOAT_SRC=${PROJECT_SOURCE_DIR}")
	endforeach()
endif()
