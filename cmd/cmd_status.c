/* moat status */
#include "cmd.h"

int
cmd_status(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_not_available("status");
}
