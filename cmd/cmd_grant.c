/* moat grant, moat revoke */
#include "cmd.h"

int
cmd_grant(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_not_available("grant");
}

int
cmd_revoke(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_not_available("revoke");
}
