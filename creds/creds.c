/* creds */
#include "creds.h"
