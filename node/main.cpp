#include "node/cli.hpp"

int main(int argc, char** argv) {
  return valmesh::run_cli(argc, argv);
}
