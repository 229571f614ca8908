/* certs */
#include "certs.h"
