# cmd/: run records (unit) and `moat run` end to end.

# Run records and the JSON reader are plain C in cmd/; test them directly.
moat_test(test_run_record SOURCES unit/test_run_record.c
	${PROJECT_SOURCE_DIR}/cmd/run_json.c
	${PROJECT_SOURCE_DIR}/cmd/run_record.c
	LIBS moat_util)
target_include_directories(test_run_record PRIVATE
	${PROJECT_SOURCE_DIR}/cmd)
