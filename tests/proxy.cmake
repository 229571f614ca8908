# proxy tests
