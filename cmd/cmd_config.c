/* moat config */
#include "cmd.h"

int
cmd_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_not_available("config");
}
