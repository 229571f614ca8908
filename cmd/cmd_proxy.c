/* moat proxy */
#include "cmd.h"

int
cmd_proxy(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_not_available("proxy");
}
