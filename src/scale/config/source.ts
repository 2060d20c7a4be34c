import type { YAMLError } from 'yaml';
import {
  isUnknownOption,
  plainMessage,
  tokens,
  unknownOption,
  type YamlSource,
} from '../../config-file/yaml.ts';
import type { ConfigError } from '../../core/errors.ts';
import { AutoscaleConfigError } from './errors.ts';

/** The parsed file, to turn option paths into lines. */
export class Source {
  readonly #file: string;
  readonly #yaml: YamlSource;

  constructor(file: string, yaml: YamlSource) {
    this.#file = file;
    this.#yaml = yaml;
  }

  /** The file error for a YAML syntax error, located where the parser stopped. */
  syntaxError(syntax: YAMLError): AutoscaleConfigError {
    const { detail, where } = this.#yaml.syntaxError(syntax);
    return new AutoscaleConfigError(this.#file, detail, where);
  }

  /**
   * The file error for `error`, located at its option's path (of its key for an unknown option), or at the
   * nearest node that exists; a missing top-level option is not located (pointing at the whole file says
   * nothing).
   */
  error(error: ConfigError): AutoscaleConfigError {
    const detail =
      unknownOption(error) ??
      (error.option === '' ? `the file must hold ${error.expected}` : plainMessage(error));
    const range = this.#yaml.locate(tokens(error.option), {
      key: isUnknownOption(error),
      orRoot: false,
      dottedKeys: false,
    });
    return new AutoscaleConfigError(this.#file, detail, this.#yaml.locationOf(error, range));
  }
}
