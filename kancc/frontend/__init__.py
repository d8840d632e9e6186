"""kancc.frontend: the model a spec describes, as a graph and as named parameters.

``build_graph`` / ``build_loss_graph`` make the top of the lowering ladder (one kan.layer
per KAN layer, then the loss of [train]); ``param_names`` is the one owner of parameter
names and shapes; ``initialization``, ``lotra_params`` and ``prolong`` make and transform
spec-level parameter dicts.
"""

from .initialization import spec_init_params
from .model_graph import build_graph, build_loss_graph, layer_attrs
from .param_names import ParamDecl, ParamName, parse_param_name, spec_parameters
from .prolong import prolong_params

__all__ = ["ParamDecl", "ParamName", "build_graph", "build_loss_graph", "layer_attrs",
           "parse_param_name", "prolong_params", "spec_init_params", "spec_parameters"]
