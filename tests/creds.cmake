# creds tests
