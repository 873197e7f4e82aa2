/* version.h -- netcore's release version (the module ABI version lives in
 * include/netcore/netcore.h). */
#ifndef NC_CORE_VERSION_H
#define NC_CORE_VERSION_H
#define NC_VERSION "0.1.0"
#endif
