"""The example fabric configuration (fabric.yaml), installed with fabtel as
package data (fabtel.examples) so that commands find a default configuration
outside the checkout. Holds no code."""
