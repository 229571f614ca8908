# certs tests (and the proxy's network policy, written by the same helper)
moat_test(test_policy SOURCES unit/test_policy.c LIBS moat_proxy)
# test_certs includes certs/certs.c itself (to reach its static helpers).
moat_test(test_certs SOURCES unit/test_certs.c
	LIBS moat_util PkgConfig::OPENSSL)
add_executable(bench_leaf_mint ${PROJECT_SOURCE_DIR}/bench/leaf_mint.c)
target_link_libraries(bench_leaf_mint PRIVATE moat_certs)
