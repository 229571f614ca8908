/* certs: see ARCHITECTURE.md. */
#ifndef MOAT_CERTS_H
#define MOAT_CERTS_H

#include "util.h"

#endif
