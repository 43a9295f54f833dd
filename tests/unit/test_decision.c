#include "rf_test.h"
int main(void) { return rf_test_finish(); }
