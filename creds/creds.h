/*
 * creds: the encrypted credential store and the table of built-in
 * providers.
 */
#ifndef MOAT_CREDS_H
#define MOAT_CREDS_H

#include "util.h"

#endif /* MOAT_CREDS_H */
