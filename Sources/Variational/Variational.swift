// The umbrella module: `import Variational` brings in the whole public library.
@_exported import VariationalBijectors
@_exported import VariationalCore
@_exported import VariationalData
@_exported import VariationalDistributions
@_exported import VariationalInference
@_exported import VariationalNeural
@_exported import VariationalOptimizers
@_exported import _Differentiation
