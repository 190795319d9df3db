"""componentize-py's app module for a plugin built with etl_stage (build.sh passes it as the app).

It imports the plugin's own module, ``app`` (which defines its Stage and calls
``etl_stage.export``), and provides the class componentize-py looks for: the exported
``etl:stage/stage`` interface is named ``etl_stage_exports`` (``--export-interface-name``), so its
functions live on ``EtlStageExports`` here and its resource in the module ``etl_stage_exports``.
This runs at build time (componentize-py pre-initializes the app), so a plugin that exports no
stage, or a bad one, fails the build.
"""

import app  # noqa: F401  (the plugin)
from etl_stage._guest import EtlStageExports  # noqa: F401
from etl_stage.stage import exported

exported().info()
